-- A recorded gap that later data filled (or that changed kind) is no longer a gap.
DELETE FROM ingest_gaps WHERE hour = {hour:DateTime('UTC')} AND kind = {kind:String}
