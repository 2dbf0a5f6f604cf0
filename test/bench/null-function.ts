/**
 * A CloudEvent function that does nothing, for `bench:sign-floor`: what the Functions Framework
 * costs per Pub/Sub push before any function code runs.
 */
import functions from '@google-cloud/functions-framework';

functions.cloudEvent('nullEvent', () => {});
