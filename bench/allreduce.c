/* The baseline for bench/distributed.ts: MPI_Allreduce (sum, float32, in place) called
 * directly from C, median seconds per call at each size given in floats. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  for (int s = 1; s < argc; s++) {
    long n = atol(argv[s]);
    float *buffer = malloc(n * sizeof(float));
    for (long i = 0; i < n; i++) buffer[i] = 1.0f;
    int calls = n >= (1 << 22) ? 10 : n >= (1 << 16) ? 50 : 500;
    double times[7];
    for (int r = 0; r < 7; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t = MPI_Wtime();
      for (int c = 0; c < calls; c++) MPI_Allreduce(MPI_IN_PLACE, buffer, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      times[r] = (MPI_Wtime() - t) / calls;
    }
    qsort(times, 7, sizeof(double), compare);
    if (rank == 0) printf("%ld %.9f\n", n, times[3]);
    free(buffer);
  }
  MPI_Finalize();
  return 0;
}
