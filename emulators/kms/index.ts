/** The KMS emulator: start it in-process, or run main.ts as a CLI; ensureSigningKey sets up a key. */
export type { FaultCount, FaultSettings, Faults } from './faults.ts';
export { type KmsEmulator, type KmsEmulatorOptions, startKmsEmulator } from './server.ts';
export { ensureSigningKey, type SigningKeySpec } from './setup.ts';
