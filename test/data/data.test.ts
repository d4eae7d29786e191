// Dataset pipeline, IDX parsing (with corrupt files) and the Fashion-MNIST lookup order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tsr from '../../src/index.js';
import { serveFolder } from '../../src/cli/static-server.js';

function idx(shape: number[], data: number[]): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  header[2] = 0x08;
  header[3] = shape.length;
  const view = new DataView(header.buffer);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return new Uint8Array([...header, ...data]);
}

describe('Dataset', () => {
  const x = tsr.arange(0, 10, 1, { dtype: 'float32' }).reshape([5, 2]);
  const y = tsr.arange(0, 5);

  it('fromTensors, batch, take, repeat, map', async () => {
    const batches = await tsr.data.Dataset.fromTensors([x, y]).batch(2).toArray();
    assert.equal(batches.length, 3);
    assert.deepEqual(await (batches[0] as tsr.Tensor[])[0]!.array(), [[0, 1], [2, 3]]);
    assert.deepEqual(await (batches[2] as tsr.Tensor[])[1]!.array(), [4]);
    assert.equal((await tsr.data.Dataset.fromTensors(y).batch(2, true).toArray()).length, 2);
    const doubled = await tsr.data.Dataset.fromTensors(y).map((t) => (t as tsr.Tensor).mul(2)).take(3).repeat(2).toArray();
    assert.deepEqual(await Promise.all(doubled.map((t) => (t as tsr.Tensor).item())), [0, 2, 4, 0, 2, 4]);
  });

  it('shuffle is a seeded permutation that changes between passes', async () => {
    const order = async (ds: tsr.data.Dataset) => Promise.all((await ds.toArray()).map((t) => (t as tsr.Tensor).item()));
    const ds = tsr.data.Dataset.fromTensors(tsr.arange(0, 50)).shuffle(10, 4);
    const a = await order(ds), b = await order(ds);
    assert.deepEqual([...a].sort((p, q) => p - q), Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(a, Array.from({ length: 50 }, (_, i) => i));
    assert.notDeepEqual(a, b);
    assert.deepEqual(await order(tsr.data.Dataset.fromTensors(tsr.arange(0, 50)).shuffle(10, 4)), a);
  });

  it('prefetch keeps order and leaks nothing', async () => {
    const before = tsr.memory().numTensors;
    const items = await tsr.data.Dataset.fromTensors([x, y]).batch(2).prefetch(2).toArray();
    assert.equal(items.length, 3);
    for (const it of items) (it as tsr.Tensor[]).forEach((t) => t.dispose());
    assert.equal(tsr.memory().numTensors, before);
  });
});

describe('IDX and Fashion-MNIST', () => {
  it('reads raw and gzip IDX files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-idx-'));
    await writeFile(join(dir, 'a'), idx([2, 2], [1, 2, 3, 4]));
    await writeFile(join(dir, 'a.gz'), gzipSync(idx([3], [7, 8, 9])));
    assert.deepEqual((await tsr.data.readIdx(join(dir, 'a'))).shape, [2, 2]);
    assert.deepEqual([...(await tsr.data.readIdx(join(dir, 'a.gz'))).data], [7, 8, 9]);
  });

  it('truncated, corrupt or foreign files are errors naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-idx-'));
    const file = (n: string) => join(dir, n);
    await writeFile(file('short'), idx([10, 10], [1, 2, 3]));
    await writeFile(file('long'), idx([1], [1, 2]));
    await writeFile(file('magic'), new Uint8Array([1, 2, 3, 4, 5]));
    await writeFile(file('type'), new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
    await writeFile(file('bad.gz'), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
    await writeFile(file('huge'), new Uint8Array([0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]));
    await assert.rejects(tsr.data.readIdx(file('short')), new RegExp(`readIdx: ${file('short')}: 3 data bytes for shape \\[10, 10\\] \\(100 expected\\): the file is truncated`));
    await assert.rejects(tsr.data.readIdx(file('long')), /longer than its header says/);
    await assert.rejects(tsr.data.readIdx(file('magic')), /magic: not an IDX file/);
    await assert.rejects(tsr.data.readIdx(file('type')), /unsupported IDX element type 0xd/);
    await assert.rejects(tsr.data.readIdx(file('bad.gz')), /bad.gz: corrupt gzip data/);
    await assert.rejects(tsr.data.readIdx(file('huge')), /huge: .*truncated/);
    await assert.rejects(tsr.data.readIdx(file('missing')), /missing: cannot read/);
  });

  it('the embedded sample is a real Fashion-MNIST subset and is used when nothing else is found', async () => {
    const saved = process.env['TESSERA_DATA'];
    process.env['TESSERA_DATA'] = '/nonexistent';
    try {
      const d = await tsr.datasets.fashionMnist({ allowSample: true });
      if (!existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz')) {
        assert.equal(d.full, false);
        assert.match(d.source, /embedded sample/);
        assert.deepEqual(d.train.images.shape, [6000, 28, 28]);
      }
      assert.equal(d.test.labels.dtype, 'int32');
      const px = await d.train.images.slice([[0, 1]]).data();
      assert.ok(Math.max(...px) <= 1 && Math.min(...px) >= 0);
    } finally {
      if (saved === undefined) delete process.env['TESSERA_DATA']; else process.env['TESSERA_DATA'] = saved;
    }
  });

  it('loads from a URL (how a web page gets the sample), with HTTP and gzip failures naming the file', async () => {
    const sample = new URL('../../../data/fashion-mnist-sample/', import.meta.url).pathname;
    const served = await serveFolder(sample, '127.0.0.1', 0);
    const broken = await mkdtemp(join(tmpdir(), 'tessera-broken-'));
    const brokenServed = await serveFolder(broken, '127.0.0.1', 0);
    try {
      const fromUrl = await tsr.datasets.fashionMnist({ url: served.url });
      const fromDisk = await tsr.datasets.fashionMnist({ dir: sample });
      assert.equal(fromUrl.source, served.url);
      assert.equal(fromUrl.full, false);
      assert.deepEqual(fromUrl.train.images.shape, [6000, 28, 28]);
      assert.deepEqual([...await fromUrl.test.labels.data()], [...await fromDisk.test.labels.data()]);
      assert.deepEqual(await fromUrl.train.images.slice([[5990, 6000]]).data(), await fromDisk.train.images.slice([[5990, 6000]]).data());
      await assert.rejects(tsr.datasets.fashionMnist({ url: `${served.url}nowhere/` }), new RegExp(`readIdx: ${served.url}nowhere/train-images-idx3-ubyte.gz: cannot fetch: HTTP 404`));
      await writeFile(join(broken, 'train-images-idx3-ubyte.gz'), Uint8Array.of(0x1f, 0x8b, 1, 2, 3));
      for (const f of ['train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) await copyFile(join(sample, `${f}.gz`), join(broken, `${f}.gz`));
      await assert.rejects(tsr.datasets.fashionMnist({ url: brokenServed.url }), /readIdx: http:.*train-images-idx3-ubyte.gz: corrupt gzip data/);
      await assert.rejects(tsr.datasets.fashionMnist({ url: 'data/' }), /datasets: 'data\/' is not a URL \(outside a web page it must be absolute/);
    } finally {
      await served.close();
      await brokenServed.close();
    }
  });

  it('a folder without the files says where it looked and how to get them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-empty-'));
    await assert.rejects(tsr.datasets.fashionMnist({ dir }), new RegExp(`datasets: fashion-mnist: ${dir} does not hold train-images-idx3-ubyte`));
    await assert.rejects(tsr.datasets.mnist({ dir: undefined, allowSample: false }).catch((e) => { throw e; }), /mnist not found; looked in .*apt install dataset-mnist/);
  });

  it('finds a set in a folder given by TESSERA_DATA (raw, un-gzipped files); the sample there is not called full', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-data-'));
    const sample = new URL('../../../data/fashion-mnist-sample/', import.meta.url).pathname;
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      await copyFile(join(sample, `${f}.gz`), join(dir, `${f}.gz`));
    }
    const saved = process.env['TESSERA_DATA'];
    process.env['TESSERA_DATA'] = dir;
    try {
      const d = await tsr.datasets.fashionMnist({ dir: undefined });
      assert.equal(d.source, dir);
      // full means the official 60,000/10,000 split, wherever the files were found
      assert.equal(d.full, false);
    } finally {
      if (saved === undefined) delete process.env['TESSERA_DATA']; else process.env['TESSERA_DATA'] = saved;
    }
  });
});
