import { Controller, Get, HttpException, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { HeraldFastifyAdapter } from './herald-fastify.adapter';

@Controller()
class FailingController {
  @Get('bug')
  bug(): never {
    throw new Error('a bug, not a client error');
  }

  @Get('teapot')
  teapot(): never {
    throw new HttpException({ statusCode: 418, message: 'short and stout', error: 'Teapot' }, 418);
  }
}

@Module({ controllers: [FailingController] })
class FailingModule {}

describe('HeraldFastifyAdapter', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(FailingModule, new HeraldFastifyAdapter({ headersMs: 10_000, requestMs: 30_000 }), { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  const get = async (url: string) => {
    const response = await app.getHttpAdapter().getInstance().inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.json() };
  };

  it('answers an error that is not an HttpException with 500 in the error shape, error name included', async () => {
    expect(await get('/bug')).toEqual({ status: 500, body: { statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' } });
  });

  it('leaves an error body that names its error as it is', async () => {
    expect(await get('/teapot')).toEqual({ status: 418, body: { statusCode: 418, message: 'short and stout', error: 'Teapot' } });
  });
});
