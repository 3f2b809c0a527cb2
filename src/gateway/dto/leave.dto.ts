import { IsString } from 'class-validator';

export class LeaveDto {
  @IsString()
  room!: string;
}
