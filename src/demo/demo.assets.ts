import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Injectable, NotFoundException } from '@nestjs/common';

/** A file name of the package's dist folder: no directories, so no way out of it. */
const ASSET_NAME = /^[a-z0-9][a-z0-9.-]*\.js$/;

/**
 * The browser side of the demo: @herald/client's compiled ES modules, served as they are
 * (they import each other with relative '.js' paths, so no bundler is needed).
 */
@Injectable()
export class DemoAssets {
  /** Resolved through the package, so it works from the workspace and from node_modules alike. */
  private readonly distDir = join(dirname(require.resolve('@herald/client/package.json')), 'dist');

  async script(name: string): Promise<string> {
    if (!ASSET_NAME.test(name)) throw new NotFoundException(`No demo asset ${name}`);
    try {
      return await readFile(join(this.distDir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new NotFoundException(`No demo asset ${name} (is @herald/client built?)`);
      }
      throw error;
    }
  }
}
