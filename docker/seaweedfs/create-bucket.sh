#!/bin/sh
# One-shot: makes sure the bucket S3_BUCKET exists (streamhall does not create it), then
# exits 0. Safe to run again: an existing bucket is left as it is.
set -eu
shell() { weed shell -master=seaweedfs:9333 -filer=seaweedfs:8888 2>&1; }
has_bucket() { echo "s3.bucket.list" | shell | grep -Eq "(^|[[:space:]])${S3_BUCKET}[[:space:]]+size:"; }
i=0
while [ $i -lt 60 ]; do
	if has_bucket; then
		echo "bucket ${S3_BUCKET} is there"
		exit 0
	fi
	echo "s3.bucket.create -name ${S3_BUCKET}" | shell || true
	i=$((i + 1))
	sleep 2
done
echo "could not create bucket ${S3_BUCKET} in 2 minutes" >&2
exit 1
