import { spawnSync } from 'node:child_process';

/** Whether a command is on PATH. */
export function hasTool(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Throws, naming the tool and how to get it, when a test's prerequisite is missing (README, Prerequisites). */
export function requireTool(command: string, install: string): void {
  if (!hasTool(command)) throw new Error(`${command} is not on PATH: ${install} (README, Prerequisites)`);
}
