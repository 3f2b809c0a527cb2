import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { PublishResponse } from '@herald/client/protocol';
import { RequireToken } from '../auth/scopes.guard';
import { Scope } from '../auth/principal';
import { PublishNotificationDto } from './dto/publish-notification.dto';
import { NotificationsService, targetsProblem } from './notifications.service';

@Controller('v1/notifications')
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
