// `tessera devices`: what tessera can run on here, and for what it cannot, why.
import { parseArgs } from 'node:util';
import { autoDevice, releaseDevices } from '../backends/registry.js';
import { listDevices } from '../devices/list.js';
import { launchInfo } from '../distributed/launcher.js';
import { probeMpi } from '../distributed/mpi.js';
import { probeNccl } from '../distributed/nccl.js';

export const DEVICES_HELP = `tessera devices — list every device tessera can use, and why others are unavailable

Options:
  --json              print the list as JSON`;

export async function devices(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, strict: true });
  if (values.help) { console.log(DEVICES_HELP); return 0; }
  try {
    const list = await listDevices();
    const auto = autoDevice();
    const mpi = probeMpi(), nccl = probeNccl(), job = launchInfo();
    if (values.json) {
      console.log(JSON.stringify({ devices: list, auto, mpi, nccl, job }, null, 2));
      return 0;
    }
    for (const d of list) {
      if (!d.available) {
        console.log(`${d.name.padEnd(8)}unavailable  ${d.reason}`);
        continue;
      }
      console.log(`${d.name.padEnd(8)}available    ${d.description}${d.software ? '  [software renderer: slower than the cpu backend]' : ''}`);
      for (const [k, v] of Object.entries(d.details ?? {})) console.log(`${''.padEnd(21)}${k}: ${v}`);
    }
    console.log(`\nauto picks: ${auto.device} (${auto.why})`);
    console.log(`mpi: ${'reason' in mpi ? `unavailable  ${mpi.reason}` : `${mpi.version} (${mpi.path})`}`);
    console.log(`nccl: ${'reason' in nccl ? `unavailable  ${nccl.reason}` : `${nccl.version} (${nccl.path}): CUDA gradients are summed on the GPUs`}`);
    console.log(`job: ${job.launcher ? `rank ${job.rank} of ${job.worldSize} (local rank ${job.localRank}), started by ${job.launcher}` : 'a single process (no launcher: mpirun -np N, or srun, starts several)'}`);
    return 0;
  } finally {
    await releaseDevices();
  }
}
