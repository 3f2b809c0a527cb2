import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HttpErrorDto } from '../openapi/http-error.dto';
import { Broker } from '../broker/broker';
import { DrainService } from '../lifecycle/drain.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly broker: Broker,
    private readonly drain: DrainService,
  ) {}

  /** Liveness: the process answers. No dependency checks, so a Redis outage never restarts pods. */
  @Get('healthz')
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the broker is reachable and the pod is not draining. */
  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: 503 while draining or while the broker is unreachable' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', enum: ['ready'] } }, required: ['status'] } })
  @ApiServiceUnavailableResponse({ type: HttpErrorDto })
  readyz(): { status: 'ready' } {
    if (this.drain.draining) throw new ServiceUnavailableException('Draining');
    if (!this.broker.available) throw new ServiceUnavailableException('The message broker is unreachable');
    return { status: 'ready' };
  }
}
