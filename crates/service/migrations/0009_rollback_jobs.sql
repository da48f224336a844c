-- Rollbacks run as jobs: a restore is `rolling_back` between the request and the job's end.
ALTER TABLE backup_restores DROP CONSTRAINT backup_restores_status_check;
ALTER TABLE backup_restores ADD CONSTRAINT backup_restores_status_check
    CHECK (status IN ('pending', 'analyzing', 'awaiting_confirmation', 'running', 'completed', 'failed',
                      'rolling_back', 'rolled_back'));
