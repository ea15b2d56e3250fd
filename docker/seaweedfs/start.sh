#!/bin/sh
# Starts SeaweedFS (master, volume, filer and the S3 gateway in one process) with one S3
# identity whose keys come from the environment (S3_ACCESS_KEY, S3_SECRET_KEY), written to a
# config file inside the container only.
set -eu
for v in S3_ACCESS_KEY S3_SECRET_KEY; do
	eval "value=\${$v:-}"
	case "$value" in
		"" | *[!A-Za-z0-9]*) echo "seaweedfs: $v must be set, letters and digits only" >&2; exit 1 ;;
	esac
done
umask 077
cat >/tmp/s3.json <<JSON
{
  "identities": [
    {
      "name": "streamhall",
      "credentials": [{ "accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY" }],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
JSON
exec weed server -dir=/data -ip=seaweedfs -ip.bind=0.0.0.0 -volume.max=0 \
	-s3 -s3.port=8333 -s3.config=/tmp/s3.json
