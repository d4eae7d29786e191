// `tessera verify`: each device computes a matmul, a conv2d and a training step correctly, on itself.
import { parseArgs } from 'node:util';
import { availableDevices, getBackend, initDevices, releaseDevices } from '../backends/registry.js';
import { setLogDevicePlacement } from '../backends/trace.js';
import { formatVerify, verifyDevices } from '../devices/verify.js';

export const VERIFY_HELP = `tessera verify — prove each device computes correctly and really does the work

For each device: a matmul, a conv2d and one training step, compared with a float64 CPU
reference; the device's own timer must see the kernels run. Exits 1 if any check fails.

Options:
  --device D[,D...]   the devices to check (default: every available device)
  --json              print the results as JSON
  --log-device-placement  print each op with the device it runs on`;

export async function verify(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { device: { type: 'string' }, json: { type: 'boolean', default: false }, 'log-device-placement': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    strict: true,
  });
  if (values.help) { console.log(VERIFY_HELP); return 0; }
  if (values['log-device-placement']) setLogDevicePlacement(true);
  await initDevices();
  try {
    const wanted = values.device ? values.device.split(',').map((s) => s.trim()) : availableDevices();
    // an unavailable device is an error that says why
    for (const d of wanted) getBackend(d);
    const results = await verifyDevices(wanted);
    console.log(values.json ? JSON.stringify(results, null, 2) : formatVerify(results));
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await releaseDevices();
  }
}
