import type { HeapSpaceInfo } from 'node:v8';
import { capYoungGeneration, holdYoungGeneration } from './young-generation';

const MB = 2 ** 20;

/** A V8 whose new space has the given size, recording the flags set on it. */
function fakeV8(initialMb: number) {
  const state = { newSpaceMb: initialMb, flags: [] as string[] };
  const v8 = {
    getHeapSpaceStatistics: () => [{ space_name: 'old_space', space_size: 500 * MB } as HeapSpaceInfo, { space_name: 'new_space', space_size: state.newSpaceMb * MB } as HeapSpaceInfo],
    setFlagsFromString: (flag: string) => void state.flags.push(flag),
  };
  return { state, v8 };
}

describe('capYoungGeneration', () => {
  it('lets the new space grow below the cap, stops its growth at the cap, and lets it grow again once V8 shrank it', () => {
    const { state, v8 } = fakeV8(4);
    const cap = capYoungGeneration(16, v8);
    try {
      expect(state.flags).toEqual(['--semi-space-growth-factor=2']);
      state.newSpaceMb = 8;
      cap.adjust();
      // Unchanged: no flag set again.
      expect(state.flags).toEqual(['--semi-space-growth-factor=2']);
      state.newSpaceMb = 16;
      cap.adjust();
      expect(state.flags.at(-1)).toBe('--semi-space-growth-factor=1');
      state.newSpaceMb = 2;
      cap.adjust();
      expect(state.flags.at(-1)).toBe('--semi-space-growth-factor=2');
      expect(state.flags).toHaveLength(3);
    } finally {
      cap.stop();
    }
  });

  it('gives V8 back its own growth at 0, held or not, and sets nothing after', () => {
    const { state, v8 } = fakeV8(1);
    holdYoungGeneration(v8);
    expect(state.flags).toEqual(['--semi-space-growth-factor=1']);
    const cap = capYoungGeneration(0, v8);
    state.newSpaceMb = 64;
    cap.adjust();
    cap.stop();
    expect(state.flags).toEqual(['--semi-space-growth-factor=1', '--semi-space-growth-factor=2']);
  });
});
