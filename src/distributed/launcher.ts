// Which process of a job this is, from the launcher's environment: Open MPI's mpirun, Slurm's
// srun, or MPICH's mpiexec (Hydra). A process no launcher started is a world of one.
import { env, nodeBuiltin } from '../core/platform.js';

export interface LaunchInfo {
  rank: number;
  worldSize: number;
  /** the process's index among those on its machine: the GPU it takes */
  localRank: number;
  /** what started it, or null for a plain process */
  launcher: 'Open MPI' | 'Slurm' | 'MPICH' | null;
}

const LAUNCHERS = [
  { launcher: 'Open MPI', rank: 'OMPI_COMM_WORLD_RANK', size: 'OMPI_COMM_WORLD_SIZE', local: 'OMPI_COMM_WORLD_LOCAL_RANK' },
  { launcher: 'Slurm', rank: 'SLURM_PROCID', size: 'SLURM_NTASKS', local: 'SLURM_LOCALID' },
  { launcher: 'MPICH', rank: 'PMI_RANK', size: 'PMI_SIZE', local: 'MPI_LOCALRANKID' },
] as const;

const whole = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

export function launchInfo(): LaunchInfo {
  for (const l of LAUNCHERS) {
    const rank = whole(env(l.rank)), size = whole(env(l.size));
    if (rank !== undefined && size !== undefined && size >= 1 && rank < size) {
      return { rank, worldSize: size, localRank: whole(env(l.local)) ?? 0, launcher: l.launcher };
    }
  }
  return { rank: 0, worldSize: 1, localRank: 0, launcher: null };
}

/**
 * How many of the job's processes share this machine (1 for a plain process): each takes its
 * share of the cores, as torchrun sets one thread per process.
 */
export function processesOnThisMachine(): number {
  for (const name of ['OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'SLURM_NTASKS_PER_NODE']) {
    const n = whole(env(name));
    if (n !== undefined && n >= 1) return n;
  }
  return 1;
}

/**
 * Cores this process may run on: the launcher's binding where it set one (the affinity mask is
 * smaller than the machine), else its share of the machine's. Read once.
 */
export function coresOfThisProcess(): number {
  if (cores !== undefined) return cores;
  const os = nodeBuiltin('os');
  if (!os) return (cores = 1);
  const machine = os.cpus().length, mine = os.availableParallelism?.() ?? machine;
  return (cores = mine < machine ? mine : Math.max(1, Math.floor(machine / processesOnThisMachine())));
}
/** os.cpus() reads /proc each call, and data-parallel steps ask at each step */
let cores: number | undefined;
