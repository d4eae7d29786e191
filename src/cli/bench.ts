// `tessera bench`: how much faster each device trains the Fashion-MNIST models than the CPU.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkOutputFolder } from './outputs.js';
import { availableDevices, getBackend, initDevices, releaseDevices } from '../backends/registry.js';
import { setLogDevicePlacement } from '../backends/trace.js';
import { fail } from '../core/errors.js';
import { type BenchOptions, type MatmulDtype, runBench, trainStepMs } from '../devices/bench.js';
import { benchChart, benchMarkdown, formatBench } from '../devices/bench-report.js';
import { profile } from '../devices/profile.js';
import { MODEL_KINDS, type ModelKind } from '../train/fashion-models.js';

export const BENCH_HELP = `tessera bench — training speed and matmul throughput per device, and speed-up over the CPU

Options:
  --models LIST         mlp,cnn (default), lstm and transformer too, or none for matmuls only
  --batch-sizes LIST    default 32,256
  --devices LIST        cpu,webgpu,... (default: cpu and every hardware GPU; name a software
                        adapter such as lavapipe explicitly to include it)
  --steps N             timed training steps per repeat (default 20)
  --warmup N            untimed steps first (default 3)
  --repeats N           repeats; the median is reported (default 3)
  --matmul-sizes LIST   n for n x n x n matmuls (default 256,1024,2048)
  --matmul-dtypes LIST  float32,bfloat16,float16 (default float32; half formats accumulate in float32)
  --matmul-devices LIST devices for the matmuls (default: --devices)
  --json                print the results as JSON
  --out DIR             write DIR/bench.md, DIR/bench.json and DIR/speedup.svg
  --profile             then profile one repeat of each configuration: time per op on the device
  --no-jit              time eager steps (every op dispatched) instead of compiled ones, as fit runs
  --log-device-placement  print each op with the device it runs on`;

function list(name: string, v: string, parse: (s: string) => string | number): (string | number)[] {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) fail('bench', `--${name} needs at least one value`);
  return items.map(parse);
}

function positiveInt(name: string) {
  return (s: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) fail('bench', `--${name} expects positive integers, got '${s}'`);
    return n;
  };
}

export async function bench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string', default: 'mlp,cnn' }, 'batch-sizes': { type: 'string', default: '32,256' }, devices: { type: 'string' },
      steps: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' }, repeats: { type: 'string', default: '3' },
      'matmul-sizes': { type: 'string', default: '256,1024,2048' }, 'matmul-dtypes': { type: 'string', default: 'float32' }, 'matmul-devices': { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' },
      profile: { type: 'boolean', default: false }, 'no-jit': { type: 'boolean', default: false }, 'log-device-placement': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) { console.log(BENCH_HELP); return 0; }
  const models = values.models === 'none' ? [] : list('models', values.models!, (s) => {
    if (!(MODEL_KINDS as string[]).includes(s)) fail('bench', `--models takes ${MODEL_KINDS.join(', ')} (or none), got '${s}'`);
    return s;
  }) as ModelKind[];
  const matmulDtypes = list('matmul-dtypes', values['matmul-dtypes']!, (s) => {
    if (s !== 'float32' && s !== 'bfloat16' && s !== 'float16') fail('bench', `--matmul-dtypes takes float32, bfloat16 and float16, got '${s}'`);
    return s;
  }) as MatmulDtype[];
  const int = (name: 'steps' | 'warmup' | 'repeats') => positiveInt(name)(values[name]!) as number;
  const log = values.json ? (s: string) => process.stderr.write(s + '\n') : (s: string) => console.log(s);
  if (values['log-device-placement']) setLogDevicePlacement(true);
  await initDevices();
  try {
    const devices = values.devices
      ? (list('devices', values.devices, String) as string[])
      : availableDevices().filter((d) => !getBackend(d).info().software);
    const matmulDevices = values['matmul-devices'] ? (list('matmul-devices', values['matmul-devices'], String) as string[]) : devices;
    for (const d of [...devices, ...matmulDevices]) getBackend(d);
    const opts: BenchOptions = {
      models, devices,
      batchSizes: list('batch-sizes', values['batch-sizes']!, positiveInt('batch-sizes')) as number[],
      steps: int('steps'), warmupSteps: int('warmup'), repeats: int('repeats'), jit: !values['no-jit'],
      matmulSizes: list('matmul-sizes', values['matmul-sizes']!, positiveInt('matmul-sizes')) as number[],
      matmulDtypes, matmulDevices,
      progress: values.json ? undefined : (line) => log(`  ${line}`),
    };
    if (values.out !== undefined) await checkOutputFolder('bench', '--out', values.out);
    log(`bench: ${devices.map((d) => `${d} (${getBackend(d).info().description})`).join(', ')}`);
    const report = await runBench(opts);
    if (values.json) console.log(JSON.stringify(report));
    else log(`\n${formatBench(report)}`);
    if (values.out) {
      await writeFile(join(values.out, 'speedup.svg'), benchChart(report));
      await writeFile(join(values.out, 'bench.md'), benchMarkdown(report, 'speedup.svg'));
      await writeFile(join(values.out, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
      log(`report: ${join(values.out, 'bench.md')}, ${join(values.out, 'speedup.svg')}, ${join(values.out, 'bench.json')}`);
    }
    if (values.profile) {
      for (const model of models) for (const batch of opts.batchSizes) for (const device of devices) {
        const { report: p } = await profile(() => trainStepMs(device, model, batch, { steps: opts.steps, warmupSteps: 1, repeats: 1, jit: opts.jit }));
        log(`\nprofile: ${model} batch ${batch} on ${device}, ${opts.steps + 1} steps\n${p.format()}`);
      }
    }
    return 0;
  } finally {
    await releaseDevices();
  }
}
