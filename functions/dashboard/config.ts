/**
 * The dashboard's configuration from the environment (its row in config/environment.ts).
 */
import { InvalidInputError } from '../errors.ts';

export interface DashboardConfig {
  project: string;
  /** The local stack: serve without the in-code identity check (see entry.ts). */
  local: boolean;
}

export function dashboardConfigFromEnv(env: NodeJS.ProcessEnv): DashboardConfig {
  const project = env.GCP_PROJECT || env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new InvalidInputError('GCP_PROJECT is required for the dashboard');
  return { project, local: isLocalStack(env) };
}

import { isLocalStack } from '../auth/identity-token.ts';

export { isLocalStack };
