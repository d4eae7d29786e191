// The messages between the page and the worker that trains: the page only draws, the worker
// holds tessera, its devices and the data, so a long step never blocks the page.
import type { DeviceListing, VerifyResult } from '../../src/index.js';

export type DeviceName = 'webgpu' | 'cpu';

export interface TrainRequest { model: string; device: DeviceName; epochs: number; batchSize: number }

export type PageMessage =
  | { type: 'init'; dataUrl: string }
  | { type: 'train'; request: TrainRequest }
  | { type: 'stop' }
  | { type: 'verify'; device: DeviceName }
  | { type: 'compare'; model: string; batchSizes: number[]; steps: number }
  | { type: 'reopen-webgpu' };

/** What navigator.gpu's adapter says of itself, beside what tessera made of it. */
export interface AdapterReport {
  vendor: string; architecture: string; device: string; description: string;
  /** a fallback adapter is a software one (SwiftShader) by the spec's definition */
  fallback: boolean | null;
  limits: Record<string, number>;
  features: string[];
}

/** Why a run failed, so the page can say what to do next. */
export type Failure = 'device-lost' | 'too-large' | 'other';

export interface Progress {
  epoch: number; epochs: number;
  /** samples done in this epoch, of `samplesPerEpoch` */
  samples: number; samplesPerEpoch: number;
  samplesPerSec: number; etaSec: number;
  loss: number; accuracy: number;
}

export interface SampleGrid {
  /** 28x28 pixels per image in [0, 1], one after another */
  pixels: Float32Array;
  labels: number[];
  predictions: number[];
  classNames: string[];
}

export interface CompareRow { batch: number; cpuMs: number; webgpuMs: number }

export type WorkerMessage =
  | { type: 'ready'; devices: DeviceListing[]; adapter: AdapterReport | null; models: string[]; data: { train: number; test: number; source: string } }
  | { type: 'progress'; progress: Progress }
  | { type: 'epoch'; epoch: number; logs: Record<string, number> }
  | { type: 'trained'; device: DeviceName; testAccuracy: number; testLoss: number; seconds: number; samplesPerSec: number; stopped: boolean; grid: SampleGrid }
  | { type: 'verified'; device: DeviceName; results: VerifyResult[] }
  | { type: 'compare-progress'; line: string }
  | { type: 'compared'; model: string; rows: CompareRow[] }
  | { type: 'failed'; during: 'init' | 'train' | 'verify' | 'compare'; device: DeviceName | null; failure: Failure; message: string };
