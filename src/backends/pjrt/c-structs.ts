// The PJRT C API's argument structs (xla/pjrt/c/pjrt_c_api.h, API 0.94) as byte layouts over
// Node buffers. Every struct opens with struct_size and extension_start; struct_size is the
// header's PJRT_STRUCT_SIZE (offset of the last field plus its size), which plugins built
// against older or newer headers both accept.

export type FieldType = 'ptr' | 'size' | 'i64' | 'int' | 'bool';
const SIZE: Record<FieldType, number> = { ptr: 8, size: 8, i64: 8, int: 4, bool: 1 };

export interface Layout {
  readonly name: string;
  readonly offsets: Readonly<Record<string, { at: number; type: FieldType }>>;
  /** PJRT_STRUCT_SIZE: what goes in struct_size */
  readonly structSize: number;
  /** bytes to allocate (rounded up to the struct's alignment) */
  readonly bytes: number;
}

function layout(name: string, fields: [string, FieldType][]): Layout {
  const offsets: Record<string, { at: number; type: FieldType }> = {};
  let at = 0, end = 0;
  for (const [field, type] of [['struct_size', 'size'], ['extension_start', 'ptr'], ...fields] as [string, FieldType][]) {
    const size = SIZE[type];
    at = Math.ceil(at / size) * size;
    offsets[field] = { at, type };
    at += size;
    end = at;
  }
  return { name, offsets, structSize: end, bytes: Math.ceil(end / 8) * 8 };
}

const p = (n: string): [string, FieldType] => [n, 'ptr'];
const z = (n: string): [string, FieldType] => [n, 'size'];

export const STRUCTS = {
  Error_Destroy: layout('PJRT_Error_Destroy_Args', [p('error')]),
  Error_Message: layout('PJRT_Error_Message_Args', [p('error'), p('message'), z('message_size')]),
  Error_GetCode: layout('PJRT_Error_GetCode_Args', [p('error'), ['code', 'int']]),
  Plugin_Initialize: layout('PJRT_Plugin_Initialize_Args', []),
  Event_Destroy: layout('PJRT_Event_Destroy_Args', [p('event')]),
  Event_Await: layout('PJRT_Event_Await_Args', [p('event')]),
  Event_IsReady: layout('PJRT_Event_IsReady_Args', [p('event'), ['is_ready', 'bool']]),
  Event_Error: layout('PJRT_Event_Error_Args', [p('event')]),
  NamedValue: layout('PJRT_NamedValue', [p('name'), z('name_size'), ['type', 'int'], ['value', 'i64'], z('value_size')]),
  Client_Create: layout('PJRT_Client_Create_Args', [
    p('create_options'), z('num_options'), p('kv_get_callback'), p('kv_get_user_arg'), p('kv_put_callback'), p('kv_put_user_arg'),
    p('client'), p('kv_try_get_callback'), p('kv_try_get_user_arg'),
  ]),
  Client_Destroy: layout('PJRT_Client_Destroy_Args', [p('client')]),
  Client_PlatformName: layout('PJRT_Client_PlatformName_Args', [p('client'), p('platform_name'), z('platform_name_size')]),
  Client_PlatformVersion: layout('PJRT_Client_PlatformVersion_Args', [p('client'), p('platform_version'), z('platform_version_size')]),
  Client_AddressableDevices: layout('PJRT_Client_AddressableDevices_Args', [p('client'), p('addressable_devices'), z('num_addressable_devices')]),
  Program: layout('PJRT_Program', [p('code'), z('code_size'), p('format'), z('format_size')]),
  Client_Compile: layout('PJRT_Client_Compile_Args', [p('client'), p('program'), p('compile_options'), z('compile_options_size'), p('executable')]),
  Client_BufferFromHostBuffer: layout('PJRT_Client_BufferFromHostBuffer_Args', [
    p('client'), p('data'), ['type', 'int'], p('dims'), z('num_dims'), p('byte_strides'), z('num_byte_strides'),
    ['host_buffer_semantics', 'int'], p('device'), p('memory'), p('device_layout'), p('done_with_host_buffer'), p('buffer'),
  ]),
  DeviceDescription_Kind: layout('PJRT_DeviceDescription_Kind_Args', [p('device_description'), p('device_kind'), z('device_kind_size')]),
  Device_GetDescription: layout('PJRT_Device_GetDescription_Args', [p('device'), p('device_description')]),
  Device_MemoryStats: layout('PJRT_Device_MemoryStats_Args', [
    p('device'), ['bytes_in_use', 'i64'],
    ...['peak_bytes_in_use', 'num_allocs', 'largest_alloc_size', 'bytes_limit', 'bytes_reserved', 'peak_bytes_reserved',
      'bytes_reservable_limit', 'largest_free_block_bytes', 'pool_bytes', 'peak_pool_bytes']
      .flatMap((n): [string, FieldType][] => [[n, 'i64'], [`${n}_is_set`, 'bool']]),
  ]),
  LoadedExecutable_Destroy: layout('PJRT_LoadedExecutable_Destroy_Args', [p('executable')]),
  LoadedExecutable_GetExecutable: layout('PJRT_LoadedExecutable_GetExecutable_Args', [p('loaded_executable'), p('executable')]),
  Executable_NumOutputs: layout('PJRT_Executable_NumOutputs_Args', [p('executable'), z('num_outputs')]),
  Executable_Destroy: layout('PJRT_Executable_Destroy_Args', [p('executable')]),
  ExecuteOptions: layout('PJRT_ExecuteOptions', [
    p('send_callbacks'), p('recv_callbacks'), z('num_send_ops'), z('num_recv_ops'), ['launch_id', 'int'],
    p('non_donatable_input_indices'), z('num_non_donatable_input_indices'), p('context'), p('call_location'),
    z('num_tasks'), p('task_ids'), p('incarnation_ids'),
  ]),
  LoadedExecutable_Execute: layout('PJRT_LoadedExecutable_Execute_Args', [
    p('executable'), p('options'), p('argument_lists'), z('num_devices'), z('num_args'), p('output_lists'),
    p('device_complete_events'), p('execute_device'),
  ]),
  Buffer_Destroy: layout('PJRT_Buffer_Destroy_Args', [p('buffer')]),
  Buffer_ReadyEvent: layout('PJRT_Buffer_ReadyEvent_Args', [p('buffer'), p('event')]),
  Buffer_ToHostBuffer: layout('PJRT_Buffer_ToHostBuffer_Args', [p('src'), p('host_layout'), p('dst'), z('dst_size'), p('event')]),
} as const;

export type StructName = keyof typeof STRUCTS;

/** A field's value: a number, or memory (a typed array, another struct) whose address goes in. */
export type FieldValue = bigint | number | boolean | ArrayBufferView | Args;

/**
 * One argument struct in native-readable memory, with struct_size filled in. Memory given as a
 * field value is kept reachable for as long as the struct: holding only its address would let
 * a collection during the call free it.
 */
export class Args {
  /** how the FFI gives a typed array's address (set by the client that loads koffi) */
  static addressOf: (memory: ArrayBufferView) => bigint = () => { throw new Error('Args.addressOf is not set'); };
  readonly buffer: Buffer;
  private readonly held: object[] = [];
  constructor(readonly layout: Layout, values: Record<string, FieldValue> = {}) {
    // off the V8 heap: small typed arrays live inside it, where a collection during a call that
    // runs JavaScript (a plugin callback) could move them while C still writes through the pointer
    this.buffer = Buffer.from(new ArrayBuffer(layout.bytes));
    this.set('struct_size', layout.structSize);
    for (const [k, v] of Object.entries(values)) this.set(k, v);
  }

  private field(name: string): { at: number; type: FieldType } {
    const f = this.layout.offsets[name];
    if (!f) throw new Error(`${this.layout.name} has no field ${name}`);
    return f;
  }

  /** Keeps memory reachable that the struct points at indirectly (through an array of pointers). */
  hold(...memory: object[]): this {
    this.held.push(...memory);
    return this;
  }

  set(name: string, field: FieldValue): this {
    const { at, type } = this.field(name);
    let value: bigint | number | boolean;
    if (typeof field === 'object') {
      this.held.push(field);
      value = Args.addressOf(field instanceof Args ? field.buffer : field);
    } else value = field;
    if (type === 'int') this.buffer.writeInt32LE(Number(value), at);
    else if (type === 'bool') this.buffer.writeUInt8(value ? 1 : 0, at);
    else if (type === 'i64') this.buffer.writeBigInt64LE(BigInt(value), at);
    else this.buffer.writeBigUInt64LE(BigInt(value), at);
    return this;
  }

  get(name: string): bigint {
    const { at, type } = this.field(name);
    if (type === 'int') return BigInt(this.buffer.readInt32LE(at));
    if (type === 'bool') return BigInt(this.buffer.readUInt8(at));
    if (type === 'i64') return this.buffer.readBigInt64LE(at);
    return this.buffer.readBigUInt64LE(at);
  }
}

/** The PJRT_Api table: struct_size, extension_start, the version struct (24 bytes), then function pointers in this order. */
export const API_FUNCTIONS = [
  'Error_Destroy', 'Error_Message', 'Error_GetCode', 'Plugin_Initialize', 'Plugin_Attributes',
  'Event_Destroy', 'Event_IsReady', 'Event_Error', 'Event_Await', 'Event_OnReady',
  'Client_Create', 'Client_Destroy', 'Client_PlatformName', 'Client_ProcessIndex', 'Client_PlatformVersion', 'Client_Devices',
  'Client_AddressableDevices', 'Client_LookupDevice', 'Client_LookupAddressableDevice', 'Client_AddressableMemories',
  'Client_Compile', 'Client_DefaultDeviceAssignment', 'Client_BufferFromHostBuffer',
  'DeviceDescription_Id', 'DeviceDescription_ProcessIndex', 'DeviceDescription_Attributes', 'DeviceDescription_Kind',
  'DeviceDescription_DebugString', 'DeviceDescription_ToString',
  'Device_GetDescription', 'Device_IsAddressable', 'Device_LocalHardwareId', 'Device_AddressableMemories', 'Device_DefaultMemory', 'Device_MemoryStats',
  'Memory_Id', 'Memory_Kind', 'Memory_DebugString', 'Memory_ToString', 'Memory_AddressableByDevices',
  'Executable_Destroy', 'Executable_Name', 'Executable_NumReplicas', 'Executable_NumPartitions', 'Executable_NumOutputs',
  'Executable_SizeOfGeneratedCodeInBytes', 'Executable_GetCostAnalysis', 'Executable_OutputMemoryKinds', 'Executable_OptimizedProgram', 'Executable_Serialize',
  'LoadedExecutable_Destroy', 'LoadedExecutable_GetExecutable', 'LoadedExecutable_AddressableDevices', 'LoadedExecutable_Delete',
  'LoadedExecutable_IsDeleted', 'LoadedExecutable_Execute', 'Executable_DeserializeAndLoad', 'LoadedExecutable_Fingerprint',
  'Buffer_Destroy', 'Buffer_ElementType', 'Buffer_Dimensions', 'Buffer_UnpaddedDimensions', 'Buffer_DynamicDimensionIndices',
  'Buffer_GetMemoryLayout', 'Buffer_OnDeviceSizeInBytes', 'Buffer_Device', 'Buffer_Memory', 'Buffer_Delete', 'Buffer_IsDeleted',
  'Buffer_CopyToDevice', 'Buffer_ToHostBuffer', 'Buffer_IsOnCpu', 'Buffer_ReadyEvent',
] as const;

export type ApiFunction = (typeof API_FUNCTIONS)[number];
/** Byte offset of the first function pointer in PJRT_Api. */
export const API_FUNCTIONS_AT = 40;
/** Byte offsets of major_version and minor_version (inside PJRT_Api.pjrt_api_version). */
export const API_VERSION_AT = { major: 32, minor: 36 } as const;
/** The header these layouts follow. */
export const HEADER_VERSION = { major: 0, minor: 94 } as const;

/** PJRT_Buffer_Type values tessera uses. */
export const BUFFER_TYPE = { i1: 1, i32: 4, ui32: 8, f32: 11 } as const;
