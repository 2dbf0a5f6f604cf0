export { makeOciImage, type OciImage } from '../../emulators/sample-image.ts';
