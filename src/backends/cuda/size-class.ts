// Block sizes for the caching allocators (device memory and pinned host memory).

/** Size classes: 512-byte steps up to 1 MiB, then 2 MiB steps, so freed blocks fit new tensors. */
export function sizeClass(bytes: number): number {
  const b = Math.max(512, bytes);
  return b <= 1 << 20 ? Math.ceil(b / 512) * 512 : Math.ceil(b / (2 << 20)) * (2 << 20);
}
