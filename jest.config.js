/** Unit specs sit beside the code; e2e specs talk to real servers over real ports. */
const { availableParallelism } = require('node:os');

const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] };
module.exports = {
  testEnvironment: 'node',
  testTimeout: 30000,
  // Jest's default (one worker fewer than the cores) is one worker on a 2-core machine, where
  // most e2e files spend their time waiting on servers, Redis, failovers, TTLs and browsers they
  // started: one more worker than cores uses those waits. On two cores jest took 279-327 s with
  // two workers and 226 s with three; beside two spinning processes, 415 s with two and 262 s
  // with three (four took 176 s, 218 s loaded, but leaves less headroom on a busier machine).
  // Every test waits for conditions, never for wall-clock speed, so it holds with neighbour files
  // competing for the cores, as on a busy CI machine.
  maxWorkers: Math.max(3, availableParallelism() + 1),
  projects: [
    { displayName: 'unit', testEnvironment: 'node', transform, testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/client/src/**/*.spec.ts'] },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      testTimeout: 30000,
    },
  ],
};
