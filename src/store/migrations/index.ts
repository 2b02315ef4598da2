export { migrate, type MigrationDb } from './run.ts';
