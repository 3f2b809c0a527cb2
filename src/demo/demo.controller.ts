import { Controller, Get, Header, Inject, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { HeraldConfig } from '../config/herald.config';
import { DemoAssets } from './demo.assets';
import { DEMO_OPTIONS, type DemoOptions } from './demo.options';
import { renderDemoPage } from './demo.page';

// An HTML page and its scripts, not an API.
@ApiExcludeController()
@Controller('demo')
export class DemoController {
  private readonly page: string;

  constructor(
    private readonly assets: DemoAssets,
    config: HeraldConfig,
    @Inject(DEMO_OPTIONS) options: DemoOptions,
  ) {
    this.page = renderDemoPage({ wsPath: config.wsPath, tokenEndpoint: options.tokenEndpoint, publishHere: config.internalPort === undefined, production: config.isProduction });
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  // Never inside another site's frame: its buttons mint tokens and publish as the page's user.
  @Header('X-Frame-Options', 'DENY')
  @Header('Content-Security-Policy', "frame-ancestors 'none'")
  demoPage(): string {
    return this.page;
  }

  @Get('assets/:file')
  @Header('Cache-Control', 'no-cache')
  async asset(@Param('file') file: string, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const script = await this.assets.script(file);
    // Set once there is a script: a Content-Type set before it (@Header) stayed on the 404's
    // JSON, and Nest's Fastify adapter logged a warning for each such 404, which anyone could
    // ask for as often as they liked.
    void reply.type('text/javascript; charset=utf-8');
    return script;
  }
}
