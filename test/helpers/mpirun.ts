// Starting jobs under Open MPI's mpirun for the distributed tests and benchmark: the flags it
// needs here, and why a test skips where there is none.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';

/** false, or why the distributed tests cannot run here. */
export const noMpirun: false | string = spawnSync('mpirun', ['--version']).status === 0 ? false : 'no mpirun on this machine (.ci/run installs openmpi-bin libopenmpi3)';

/**
 * As root (CI's containers) Open MPI wants to be told; more ranks than cores is fine here; and
 * shared memory's single-copy mode needs ptrace, which containers may refuse.
 */
export const MPI_FLAGS = ['--allow-run-as-root', '--oversubscribe'];
export const MPI_ENV = { OMPI_MCA_btl_vader_single_copy_mechanism: 'none' };

/** `command args...` as `ranks` ranks of one job on this machine, with `env` added. */
export function mpirun(ranks: number, command: string[], env: Record<string, string> = {}, extraFlags: string[] = []): SpawnSyncReturns<string> {
  return spawnSync('mpirun', [...MPI_FLAGS, ...extraFlags, '-np', String(ranks), ...command], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...MPI_ENV, ...env } });
}
