"""Runs StableHLO modules on XLA's CPU compiler (through an installed jax/jaxlib), for the fake
PJRT plugin's optional second engine (test/helpers/fake-pjrt.ts, TESSERA_FAKE_PJRT=xla).
Requests and replies are length-prefixed binary messages on two named pipes:
  compile: u32 1, u32 n, n bytes of module text      -> i32 id (>= 0), or -1, u32 n, message
  run:     u32 2, u32 id, u32 count, count arrays    -> u32 0, u32 count, arrays; or u32 1, u32 n, message
  array:   u32 PJRT buffer type, u32 rank, rank x i64 dims, u64 bytes, bytes
"""
import struct, sys

import numpy as np
import jax
from jax._src import xla_bridge
from jax._src.lib import xla_client

TYPES = {1: np.bool_, 4: np.int32, 8: np.uint32, 11: np.float32}
CODES = {np.dtype(t): c for c, t in TYPES.items()}


def main(requests, replies):
    backend = xla_bridge.get_backend('cpu')
    device = backend.devices()[0]
    programs = []
    inp, out = open(requests, 'rb', buffering=0), open(replies, 'wb', buffering=0)

    def read(n):
        data = b''
        while len(data) < n:
            chunk = inp.read(n - len(data))
            if not chunk:
                sys.exit(0)
            data += chunk
        return data

    def u32():
        return struct.unpack('<I', read(4))[0]

    def message(status, text):
        raw = text.encode()[:4000]
        out.write(struct.pack('<iI', status, len(raw)) + raw)

    while True:
        kind = u32()
        if kind == 1:
            text = read(u32()).decode()
            try:
                programs.append(backend.compile_and_load(text, xla_client.DeviceList((device,)), xla_client.CompileOptions()))
                out.write(struct.pack('<i', len(programs) - 1))
            except Exception as e:  # the compiler's own message, with its line
                message(-1, str(e))
        else:
            exe, count = programs[u32()], u32()
            args = []
            for _ in range(count):
                code, rank = u32(), u32()
                dims = struct.unpack(f'<{rank}q', read(8 * rank)) if rank else ()
                size = struct.unpack('<Q', read(8))[0]
                args.append(jax.device_put(np.frombuffer(read(size), dtype=TYPES[code]).reshape(dims), device))
            try:
                results = [np.asarray(r) for r in exe.execute(args)]
            except Exception as e:
                message(1, str(e))
                continue
            reply = [struct.pack('<II', 0, len(results))]
            for r in results:
                raw = np.ascontiguousarray(r).tobytes()
                reply.append(struct.pack(f'<II{r.ndim}qQ', CODES[r.dtype], r.ndim, *r.shape, len(raw)) + raw)
            out.write(b''.join(reply))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
