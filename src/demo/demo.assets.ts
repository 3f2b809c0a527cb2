import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Injectable, NotFoundException } from '@nestjs/common';

/** A file name of the package's dist folder: no directories, so no way out of it. */
const ASSET_NAME = /^[a-z0-9][a-z0-9.-]*\.js$/;

const NO_SUCH_ASSET = 'No such demo asset';

/**
 * The browser side of the demo: @herald/client's compiled ES modules, served as they are
 * (they import each other with relative '.js' paths, so no bundler is needed).
 */
@Injectable()
export class DemoAssets {
  /** Resolved through the package, so it works from the workspace and from node_modules alike. */
  private readonly distDir = join(dirname(require.resolve('@herald/client/package.json')), 'dist');

  async script(name: string): Promise<string> {
    // The name is not repeated in a 404: it may be up to 16 KiB long (MAX_PARAM_LENGTH).
    if (!ASSET_NAME.test(name)) throw new NotFoundException(NO_SUCH_ASSET);
    try {
      return await readFile(join(this.distDir, name), 'utf8');
    } catch (error) {
      // A name past the file system's limit (255 bytes) is no file either, not a 500.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENAMETOOLONG') {
        throw new NotFoundException(`${NO_SUCH_ASSET} (is @herald/client built?)`);
      }
      throw error;
    }
  }
}
