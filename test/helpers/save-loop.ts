// Saves a model over and over, each time with every weight set to the save's number; the
// atomicity test kills this process mid-save. Prints a line after the first completed save.
import * as tsr from '../../src/index.js';

// node --test also runs every file under test/ on its own: without a folder there is nothing to do
const dir = process.argv[2];
if (dir) await saveForever(dir);

async function saveForever(dir: string): Promise<never> {
  const m = tsr.sequential([tsr.layers.dense({ units: 64, inputShape: [256] }), tsr.layers.dense({ units: 8 })]);
  for (let k = 1; ; k++) {
    for (const [, t] of m.namedTensors()) t.backend.write(t.storageView.storage, new Float32Array(t.size).fill(k));
    await m.save(dir);
    if (k === 1) process.stdout.write('saved\n');
  }
}
