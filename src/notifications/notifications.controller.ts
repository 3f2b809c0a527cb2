import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post, UseFilters } from '@nestjs/common';
import { PublishResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { Scope } from '../auth/principal';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { NotificationsService, targetRooms } from './notifications.service';
import { PublishConflictFilter } from './publish-conflict.filter';

const MAX_TARGETS = 1000;

@Controller('v1/notifications')
// On the controller, so the 409 holds in whichever application serves it (INTERNAL_PORT or not).
@UseFilters(PublishConflictFilter)
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireToken(Scope.Publish)
  publish(@Body() body: PublishNotificationDto): Promise<PublishResponse> {
    const targets = targetRooms(body).length;
    if (targets === 0) throw new BadRequestException(['rooms or users must name at least one target']);
    if (targets > MAX_TARGETS) throw new BadRequestException([`rooms and users together must name at most ${MAX_TARGETS} targets`]);
    return this.notifications.publish(body);
  }
}
