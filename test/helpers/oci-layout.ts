export { makeOciImage, makeOciIndex, type OciImage } from '../../emulators/sample-image.ts';
