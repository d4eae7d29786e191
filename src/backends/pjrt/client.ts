// A PJRT plugin driven through its C API with koffi: GetPjrtApi, the version check,
// PJRT_Plugin_Initialize first, one client, its first addressable device, and the calls the
// backend needs (compile, upload, execute, download). Every PJRT_Error is read, freed, and
// raised with the call's name and the plugin's message.
import { TesseraError } from '../../core/errors.js';
import { nodeBuiltin } from '../../core/platform.js';
import { API_FUNCTIONS, API_FUNCTIONS_AT, API_VERSION_AT, Args, BUFFER_TYPE, type FieldValue, HEADER_VERSION, STRUCTS, type ApiFunction, type StructName } from './c-structs.js';
import type { ElemType } from './hlo-builder.js';
import { type Koffi, keepLoaded, loadKoffi } from '../../core/ffi.js';

type Pointer = bigint;

/** An executable compiled by the plugin. */
export interface PjrtExecutable { readonly handle: Pointer; readonly numOutputs: number }

export interface PjrtDeviceInfo { readonly kind: string; readonly memoryBytes: number | null }

/** Everything the backend asks of a plugin (the tests' fake plugin answers the same calls). */
export interface PjrtClientInfo {
  readonly plugin: string;
  readonly apiVersion: string;
  readonly platform: string;
  readonly platformVersion: string;
  readonly devices: readonly PjrtDeviceInfo[];
}

// CompileOptionsProto { executable_build_options (3) { num_replicas (4): 1, num_partitions (5): 1 } }
const COMPILE_OPTIONS = Buffer.from([0x1a, 4, 0x20, 1, 0x28, 1]);
/** PJRT_NamedValue_kBool */
const NAMED_BOOL = 4;

export class PjrtClient {
  readonly info: PjrtClientInfo;
  private readonly koffi: Koffi;
  private readonly proto: import('koffi').TypeObject;
  private readonly table: Map<ApiFunction, Pointer>;
  private readonly client: Pointer;
  private readonly device: Pointer;
  private readonly executeOptions: Args;
  private awaitAsync: ((args: Buffer) => Promise<Pointer>) | null = null;

  constructor(readonly plugin: string, deviceIndex = 0) {
    const m = nodeBuiltin('module');
    if (!m) throw new TesseraError('pjrt', 'PJRT plugins need Node.js (they load through the koffi FFI)');
    const koffi = (this.koffi = loadKoffi());
    Args.addressOf = (memory) => koffi.address(memory);
    let lib;
    try {
      lib = koffi.load(plugin);
    } catch (e) {
      throw new TesseraError('pjrt', `cannot load the PJRT plugin ${plugin}: ${(e as Error).message}`);
    }
    let getApi: () => Pointer;
    try {
      getApi = lib.func('void *GetPjrtApi()') as () => Pointer;
    } catch {
      throw new TesseraError('pjrt', `${plugin} is not a PJRT plugin: it exports no GetPjrtApi`);
    }
    const api = getApi();
    if (!api) throw new TesseraError('pjrt', `GetPjrtApi() in ${plugin} returned NULL`);
    const head = Buffer.from(koffi.view(api, API_FUNCTIONS_AT));
    const apiSize = Number(head.readBigUInt64LE(0));
    const major = head.readInt32LE(API_VERSION_AT.major), minor = head.readInt32LE(API_VERSION_AT.minor);
    if (major !== HEADER_VERSION.major) {
      throw new TesseraError('pjrt', `${plugin} implements PJRT C API ${major}.${minor}; tessera speaks ${HEADER_VERSION.major}.x (built against ${HEADER_VERSION.major}.${HEADER_VERSION.minor}): major versions must match`);
    }
    const count = Math.min(API_FUNCTIONS.length, Math.floor((apiSize - API_FUNCTIONS_AT) / 8));
    const fns = Buffer.from(koffi.view(api, API_FUNCTIONS_AT + 8 * count)).subarray(API_FUNCTIONS_AT);
    this.table = new Map();
    for (let i = 0; i < count; i++) {
      const f = fns.readBigUInt64LE(8 * i);
      if (f) this.table.set(API_FUNCTIONS[i]!, f);
    }
    // its threads (the runtime's pools) outlive the last call
    keepLoaded(koffi, plugin);
    this.proto = koffi.proto('void *', ['void *']);
    this.call('Plugin_Initialize', 'Plugin_Initialize');
    this.client = this.createClient();
    const platform = this.text('Client_PlatformName', { client: this.client }, 'platform_name');
    const platformVersion = this.text('Client_PlatformVersion', { client: this.client }, 'platform_version');
    const list = this.call('Client_AddressableDevices', 'Client_AddressableDevices', { client: this.client });
    const n = Number(list.get('num_addressable_devices'));
    const pointers = n ? Buffer.from(koffi.view(list.get('addressable_devices'), 8 * n)) : Buffer.alloc(0);
    const devices = Array.from({ length: n }, (_, k) => pointers.readBigUInt64LE(8 * k));
    if (deviceIndex >= n) throw new TesseraError('pjrt', `${plugin} has ${n} addressable device${n === 1 ? '' : 's'}; device ${deviceIndex} was asked for`);
    this.device = devices[deviceIndex]!;
    this.info = { plugin, apiVersion: `${major}.${minor}`, platform, platformVersion, devices: devices.map((d) => this.describe(d)) };
    this.executeOptions = new Args(STRUCTS.ExecuteOptions);
  }

  private fn(name: ApiFunction): Pointer {
    const f = this.table.get(name);
    if (!f) throw new TesseraError('pjrt', `${this.plugin} lacks PJRT_${name}`);
    return f;
  }

  /** Calls PJRT_<name> with a fresh argument struct; raises the plugin's error, if any. */
  private call(name: ApiFunction, struct: StructName, values: Record<string, FieldValue> = {}, hold: object[] = []): Args {
    const args = new Args(STRUCTS[struct], values).hold(...hold);
    this.check(name, this.koffi.call(this.fn(name), this.proto, args.buffer) as Pointer);
    return args;
  }

  private check(name: string, error: Pointer): void {
    if (!error) return;
    const msg = new Args(STRUCTS.Error_Message, { error });
    this.koffi.call(this.fn('Error_Message'), this.proto, msg.buffer);
    const size = Number(msg.get('message_size'));
    const text = size ? Buffer.from(this.koffi.view(msg.get('message'), size)).toString('utf8') : '(no message)';
    const code = new Args(STRUCTS.Error_GetCode, { error });
    const codeError = this.koffi.call(this.fn('Error_GetCode'), this.proto, code.buffer) as Pointer;
    this.koffi.call(this.fn('Error_Destroy'), this.proto, new Args(STRUCTS.Error_Destroy, { error }).buffer);
    throw new TesseraError('pjrt', `PJRT_${name} failed${codeError ? '' : ` (code ${code.get('code')})`}: ${text}`);
  }

  private text(name: ApiFunction, values: Record<string, bigint>, field: string): string {
    const a = this.call(name, name as StructName, values);
    const size = Number(a.get(`${field}_size`));
    return size ? Buffer.from(this.koffi.view(a.get(field), size)).toString('utf8') : '';
  }

  private createClient(): Pointer {
    // JAX's CUDA plugin takes most of the GPU's memory up front unless told not to (other
    // plugins may refuse options they do not know, so only it gets one)
    if (!/cuda/i.test(this.plugin.slice(this.plugin.lastIndexOf('/')))) return this.call('Client_Create', 'Client_Create').get('client');
    const name = Buffer.from('preallocate\0');
    const option = new Args(STRUCTS.NamedValue, { name, name_size: name.length - 1, type: NAMED_BOOL, value: 0, value_size: 1 });
    return this.call('Client_Create', 'Client_Create', { create_options: option, num_options: 1 }).get('client');
  }

  private describe(device: Pointer): PjrtDeviceInfo {
    const d = this.call('Device_GetDescription', 'Device_GetDescription', { device }).get('device_description');
    const kind = this.text('DeviceDescription_Kind', { device_description: d }, 'device_kind');
    let memoryBytes: number | null = null;
    if (this.table.has('Device_MemoryStats')) {
      try {
        const s = this.call('Device_MemoryStats', 'Device_MemoryStats', { device });
        if (s.get('bytes_limit_is_set')) memoryBytes = Number(s.get('bytes_limit'));
      } catch {
        // optional in PJRT: plugins may answer UNIMPLEMENTED
      }
    }
    return { kind, memoryBytes };
  }

  compile(text: string): PjrtExecutable {
    const code = Buffer.from(text, 'utf8'), format = Buffer.from('mlir');
    const program = new Args(STRUCTS.Program, { code, code_size: code.length, format, format_size: format.length });
    let loaded: Pointer;
    try {
      loaded = this.call('Client_Compile', 'Client_Compile', {
        client: this.client, program, compile_options: COMPILE_OPTIONS, compile_options_size: COMPILE_OPTIONS.length,
      }).get('executable');
    } catch (e) {
      throw new TesseraError('pjrt', withSourceLine((e as Error).message.replace(/^pjrt: /, ''), text));
    }
    const exe = this.call('LoadedExecutable_GetExecutable', 'LoadedExecutable_GetExecutable', { loaded_executable: loaded }).get('executable');
    const numOutputs = Number(this.call('Executable_NumOutputs', 'Executable_NumOutputs', { executable: exe }).get('num_outputs'));
    this.call('Executable_Destroy', 'Executable_Destroy', { executable: exe });
    return { handle: loaded, numOutputs };
  }

  destroyExecutable(e: PjrtExecutable): void {
    this.call('LoadedExecutable_Destroy', 'LoadedExecutable_Destroy', { executable: e.handle });
  }

  /** A device buffer of a 1-D array, copied from host memory during the call. */
  upload(data: ArrayBufferView, type: ElemType, length: number): Pointer {
    const dims = offHeap64(1, true);
    dims[0] = BigInt(length);
    const a = this.call('Client_BufferFromHostBuffer', 'Client_BufferFromHostBuffer', {
      client: this.client, data, type: BUFFER_TYPE[type], dims, num_dims: 1,
      host_buffer_semantics: 0, device: this.device,
    });
    const done = a.get('done_with_host_buffer');
    if (done) this.call('Event_Destroy', 'Event_Destroy', { event: done });
    return a.get('buffer');
  }

  /** Copies a buffer into `into`; resolves when the copy has landed (a wait runs off the main thread). */
  async download(buffer: Pointer, into: ArrayBufferView): Promise<void> {
    const a = this.call('Buffer_ToHostBuffer', 'Buffer_ToHostBuffer', { src: buffer, dst: into, dst_size: into.byteLength });
    const event = a.get('event');
    if (!event) return;
    try {
      // a copy that has already landed needs no trip to a worker thread
      if (this.table.has('Event_IsReady') && this.call('Event_IsReady', 'Event_IsReady', { event }).get('is_ready')) {
        this.check('Event_Error', this.koffi.call(this.fn('Event_Error'), this.proto, new Args(STRUCTS.Event_Error, { event }).buffer) as Pointer);
      } else {
        this.check('Event_Await', await this.awaitEvent(new Args(STRUCTS.Event_Await, { event }).buffer));
      }
    } finally {
      this.call('Event_Destroy', 'Event_Destroy', { event });
    }
  }

  private awaitEvent(args: Buffer): Promise<Pointer> {
    if (!this.awaitAsync) {
      const fn = this.koffi.decode(this.fn('Event_Await'), this.proto) as { async: (a: Buffer, cb: (e: unknown, r: Pointer) => void) => void };
      this.awaitAsync = (a) => new Promise((resolve, reject) => fn.async(a, (e, r) => (e ? reject(e) : resolve(r))));
    }
    return this.awaitAsync(args);
  }

  /** Runs an executable on the device; the outputs are new buffers (ready when PJRT says so). */
  execute(e: PjrtExecutable, args: readonly Pointer[]): Pointer[] {
    const missing = args.findIndex((b) => !b);
    if (missing >= 0) throw new TesseraError('pjrt', `argument ${missing} of ${args.length} has no device buffer (a bug in tessera: please report it)`);
    const argList = offHeap64(Math.max(1, args.length));
    args.forEach((b, k) => { argList[k] = b; });
    const outList = offHeap64(Math.max(1, e.numOutputs));
    const argLists = offHeap64(1);
    argLists[0] = this.koffi.address(argList);
    const outLists = offHeap64(1);
    outLists[0] = this.koffi.address(outList);
    this.call('LoadedExecutable_Execute', 'LoadedExecutable_Execute', {
      executable: e.handle, options: this.executeOptions, argument_lists: argLists, num_devices: 1, num_args: args.length, output_lists: outLists,
    }, [argList, outList]);
    const outputs = [...outList.subarray(0, e.numOutputs)];
    if (outputs.some((b) => !b)) throw new TesseraError('pjrt', `PJRT_LoadedExecutable_Execute returned ${outputs.filter((b) => !b).length} of ${outputs.length} outputs without a buffer`);
    return outputs;
  }

  /** Blocks until each buffer's contents exist (the profiler's way to time a program). */
  waitReady(buffers: readonly Pointer[]): void {
    for (const buffer of buffers) {
      const event = this.call('Buffer_ReadyEvent', 'Buffer_ReadyEvent', { buffer }).get('event');
      try {
        this.call('Event_Await', 'Event_Await', { event });
      } finally {
        this.call('Event_Destroy', 'Event_Destroy', { event });
      }
    }
  }

  /** Bytes the plugin's allocator holds for this device (its pool where it reports one), or null where it does not say. */
  reservedBytes(): number | null {
    if (!this.table.has('Device_MemoryStats')) return null;
    try {
      const s = this.call('Device_MemoryStats', 'Device_MemoryStats', { device: this.device });
      return Number(s.get('pool_bytes_is_set') ? s.get('pool_bytes') : s.get('bytes_in_use'));
    } catch {
      return null;
    }
  }

  free(buffer: Pointer): void {
    this.call('Buffer_Destroy', 'Buffer_Destroy', { buffer });
  }

  release(): void {
    this.call('Client_Destroy', 'Client_Destroy', { client: this.client });
  }
}

/** Appends the module line an MLIR diagnostic points at (`file:LINE:COL: error`, or `loc("file":LINE:COL)`). */
export function withSourceLine(message: string, text: string): string {
  const m = /:(\d+):(\d+):?\s*error/.exec(message) ?? /loc\("[^"]*":(\d+):(\d+)\)/.exec(message);
  const line = m ? text.split('\n')[Number(m[1]) - 1] : undefined;
  return line === undefined ? message : `${message}\n  at StableHLO line ${m![1]}: ${line.trim()}`;
}

/** 64-bit words off the V8 heap (see Args), for arrays whose address C keeps during a call. */
function offHeap64(n: number): BigUint64Array;
function offHeap64(n: number, signed: true): BigInt64Array;
function offHeap64(n: number, signed = false): BigUint64Array | BigInt64Array {
  const memory = new ArrayBuffer(8 * n);
  return signed ? new BigInt64Array(memory) : new BigUint64Array(memory);
}
