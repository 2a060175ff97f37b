-- Recorded gaps that later data filled (or that changed kind) are no longer gaps: all hours
-- of one kind in one statement (a DELETE is a mutation; one per hour was 8,760 for a year).
DELETE FROM ingest_gaps WHERE kind = {kind:String} AND hour IN {hours:Array(DateTime('UTC'))}
