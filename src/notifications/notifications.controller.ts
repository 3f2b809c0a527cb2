import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post, UseFilters } from '@nestjs/common';
import { PublishResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { Scope } from '../auth/principal';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { NotificationsService, targetsProblem } from './notifications.service';
import { PublishConflictFilter } from './publish-conflict.filter';

@Controller('v1/notifications')
// On the controller, so the 409 holds in whichever application serves it (INTERNAL_PORT or not).
@UseFilters(PublishConflictFilter)
export class NotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireToken(Scope.Publish)
  publish(@Body() body: PublishNotificationDto): Promise<PublishResponse> {
    const problem = targetsProblem(body);
    if (problem) throw new BadRequestException([problem]);
    return this.notifications.publish(body);
  }
}
