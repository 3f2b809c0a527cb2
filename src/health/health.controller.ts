import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { DrainService } from '../lifecycle/drain.service';

@Controller()
export class HealthController {
  constructor(
    private readonly broker: Broker,
    private readonly drain: DrainService,
  ) {}

  /** Liveness: the process answers. No dependency checks, so a Redis outage never restarts pods. */
  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the broker is reachable and the pod is not draining. */
  @Get('readyz')
  readyz(): { status: 'ready' } {
    if (this.drain.draining) throw new ServiceUnavailableException('Draining');
    if (!this.broker.available) throw new ServiceUnavailableException('The message broker is unreachable');
    return { status: 'ready' };
  }
}
