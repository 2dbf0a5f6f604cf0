export * from './checkpoint/index.ts';
export * from './client/index.ts';
export * from './entries/index.ts';
export * from './merkle/index.ts';
export * from './tiles/index.ts';
