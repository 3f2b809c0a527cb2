/** Unit specs sit beside the code; e2e specs talk to real servers over real ports. */
const { availableParallelism } = require('node:os');

const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] };
module.exports = {
  testEnvironment: 'node',
  testTimeout: 30000,
  // Jest's default (one worker fewer than the cores) is one worker on a 2-core machine, where
  // most e2e files spend their time waiting on servers, Redis and browsers they started: two at
  // a time use those waits. Every test waits for conditions, never for wall-clock speed, so it
  // holds with a neighbour file competing for the cores, as on a busy CI machine.
  maxWorkers: Math.max(2, availableParallelism() - 1),
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
