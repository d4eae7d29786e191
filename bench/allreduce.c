/* The baseline for bench/distributed.ts: MPI_Allreduce (sum, float32) called directly from C,
 * median seconds per call at each size given in floats, in place and into another buffer
 * (out of place costs another pass over memory: the fair baseline for an allreduce that gives
 * a new tensor), and in place after the check tessera makes before every collective (a
 * nonblocking allgather of 12 ints, polled with MPI_Test): what the check itself costs, apart
 * from JavaScript. Prints "floats in-place-seconds out-of-place-seconds checked-seconds". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* every rank's 12-int header, gathered without blocking and polled to its end, as tessera checks */
static void check(void) {
  static int mine[12], all[12 * 1024];
  MPI_Request request;
  int done = 0;
  MPI_Iallgather(mine, 12, MPI_INT, all, 12, MPI_INT, MPI_COMM_WORLD, &request);
  while (!done) MPI_Test(&request, &done, MPI_STATUS_IGNORE);
}

/* median seconds per call over 7 timed loops; send NULL: in place on recv; checked: check() before each */
static double median(const float *send, float *recv, long n, int checked) {
  int calls = n >= (1 << 22) ? 10 : n >= (1 << 16) ? 50 : 500;
  double times[7];
  for (int r = 0; r < 7; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int c = 0; c < calls; c++) {
      if (checked) check();
      MPI_Allreduce(send ? send : MPI_IN_PLACE, recv, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    times[r] = (MPI_Wtime() - t) / calls;
  }
  qsort(times, 7, sizeof(double), compare);
  return times[3];
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int s = 1; s < argc; s++) {
    long n = atol(argv[s]);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) a[i] = b[i] = 1.0f;
    double inPlace = median(NULL, a, n, 0), outOfPlace = median(a, b, n, 0), checked = median(NULL, a, n, 1);
    if (rank == 0) printf("%ld %.9f %.9f %.9f\n", n, inPlace, outOfPlace, checked);
    free(a);
    free(b);
  }
  MPI_Finalize();
  return 0;
}
