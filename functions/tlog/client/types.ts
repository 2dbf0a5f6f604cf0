/** A Rekor v1 log entry as the API returns it (the value under its UUID key). */
export interface RekorV1Entry {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification?: {
    signedEntryTimestamp?: string;
    inclusionProof?: {
      checkpoint?: string;
      hashes: string[];
      logIndex: number;
      rootHash: string;
      treeSize: number;
    };
  };
}

export interface LogEntry extends RekorV1Entry {
  uuid: string;
}
