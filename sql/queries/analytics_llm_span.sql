-- The rows and the hours of the buckets being (re)computed (_an_buckets), in one read.
SELECT sum(bucket_rows) AS n, arraySort(groupUniqArray(hour)) AS hours
FROM _an_buckets
