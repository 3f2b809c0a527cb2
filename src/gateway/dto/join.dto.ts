import { IsOptional, IsString, MaxLength } from 'class-validator';

export class JoinDto {
  @IsString()
  room!: string;

  @IsOptional()
  @IsString()
  @MaxLength(64)
  since?: string;
}
