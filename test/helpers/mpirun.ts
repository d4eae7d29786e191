// Starting jobs under an MPI launcher for the distributed tests and benchmark: one entry per MPI
// (its launcher, the flags and environment it needs here), and why a test skips where it is absent.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';

export interface Launcher {
  /** the launcher's command (Debian names each MPI's own; `mpirun` is whichever the alternatives chose) */
  readonly command: string;
  readonly flags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** false, or why jobs cannot start under it here */
  readonly missing: false | string;
}

const works = (command: string) => spawnSync(command, ['--version']).status === 0;
const firstThatWorks = (...commands: string[]) => commands.find(works);

function launcher(commands: string[], flags: string[], env: Record<string, string>, install: string): Launcher {
  const command = firstThatWorks(...commands);
  return { command: command ?? commands[0]!, flags, env, missing: command ? false : `no ${commands.join(' or ')} on this machine (.ci/run installs ${install})` };
}

export const LAUNCHERS = {
  /**
   * As root (CI's containers) Open MPI wants to be told; more ranks than cores is fine here; and
   * shared memory's single-copy mode needs ptrace, which containers may refuse.
   */
  openmpi: launcher(['mpirun.openmpi', 'mpirun'], ['--allow-run-as-root', '--oversubscribe'], { OMPI_MCA_btl_vader_single_copy_mechanism: 'none' }, 'openmpi-bin libopenmpi3'),
  /** MPICH's Hydra needs nothing of the kind */
  mpich: launcher(['mpiexec.mpich'], [], {}, 'mpich'),
} satisfies Record<string, Launcher>;

/** `command args...` as `ranks` ranks of one job on this machine under `using`, with `env` added. */
export function launch(using: Launcher, ranks: number, command: string[], env: Record<string, string> = {}, extraFlags: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(using.command, [...using.flags, ...extraFlags, '-n', String(ranks), ...command], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...using.env, ...env } });
}

/** Open MPI's launcher, the one most tests use: false, or why it is absent. */
export const noMpirun = LAUNCHERS.openmpi.missing;

/** `command args...` as `ranks` ranks of one Open MPI job. */
export const mpirun = (ranks: number, command: string[], env: Record<string, string> = {}, extraFlags: string[] = []) => launch(LAUNCHERS.openmpi, ranks, command, env, extraFlags);
