import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { artifactWeights, folderSaveHandler, loadModel, readArtifact } from '../../src/io/artifact.js';
import { readModelWeights } from '../../src/model/model-weights.js';
import { useBackend } from '../helpers/backend.js';
import { expected, fixturePath, tmpPath } from '../helpers/fixture.js';

const dir = (...p: string[]) => tmpPath('artifact', ...p);

describe('TF.js artifacts on disk', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    await rm(dir(), { recursive: true, force: true });
    await mkdir(dir(), { recursive: true });
  });

  it('readArtifact skips optimizer entries: the parameters are the group-less entries in manifest order', async () => {
    const a = await readArtifact(fixturePath('model'));
    expect(a.specs.at(-1)).toMatchObject({ name: 'iter', group: 'optimizer' });
    const weights = artifactWeights(a);
    const ref = expected().parameters.tensors as { name: string; shape: number[] }[];
    expect(weights.map((w) => w.name)).toEqual(ref.map((t) => t.name));
    expect(weights.map((w) => w.tensor.shape)).toEqual(ref.map((t) => t.shape));
  });

  it('loadModel reads weights split over several shards, and a folder path finds its model.json', async () => {
    const a = await readArtifact(fixturePath('model'));
    const json = JSON.parse(await readFile(fixturePath('model/model.json'), 'utf8'));
    const bytes = new Uint8Array(a.data);
    await mkdir(dir('sharded'), { recursive: true });
    await writeFile(dir('sharded', 'group1-shard1of2.bin'), bytes.subarray(0, 1000));
    await writeFile(dir('sharded', 'group1-shard2of2.bin'), bytes.subarray(1000));
    json.weightsManifest[0].paths = ['group1-shard1of2.bin', 'group1-shard2of2.bin'];
    await writeFile(dir('sharded', 'model.json'), JSON.stringify(json));
    const original = await (await loadModel(fixturePath('model'))).predict(tf.ones([2, 8])) as tf.Tensor;
    const sharded = await loadModel(dir('sharded'));
    expect(Array.from((sharded.predict(tf.ones([2, 8])) as tf.Tensor).dataSync())).toEqual(Array.from(original.dataSync()));
  });

  it('folderSaveHandler writes an artifact loadModel reads back bit for bit, compiled when saved with the optimizer', async () => {
    const model = await loadModel(fixturePath('model'));
    await model.save(folderSaveHandler(dir('saved')), { includeOptimizer: true });
    const back = await loadModel(dir('saved/model.json'));
    expect(Array.from(await readModelWeights(back).toFlat())).toEqual(Array.from(await readModelWeights(model).toFlat()));
    expect((back as unknown as { loss: string }).loss).toBe('categoricalCrossentropy');
  });

  it('readArtifact rejects a file that is not an artifact and a truncated shard, naming the file', async () => {
    await writeFile(dir('not-artifact.json'), JSON.stringify({ hello: 1 }));
    await expect(readArtifact(dir('not-artifact.json'), '--model')).rejects.toThrow(/--model: .*not-artifact\.json has no 'weightsManifest' array/);
    await mkdir(dir('truncated'), { recursive: true });
    await copyFile(fixturePath('model/model.json'), dir('truncated/model.json'));
    await writeFile(dir('truncated/weights.bin'), (await readFile(fixturePath('model/weights.bin'))).subarray(0, 100));
    await expect(readArtifact(dir('truncated'), '--model')).rejects.toThrow(/--model: the shards of .*model\.json hold 100 bytes, the manifest needs 1816/);
    await expect(readArtifact(dir('missing'), '--model2')).rejects.toThrow(/--model2: no file at .*missing/);
  });
});
