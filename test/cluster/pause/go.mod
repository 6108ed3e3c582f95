module devloop.dev/testcluster/pause

go 1.22
