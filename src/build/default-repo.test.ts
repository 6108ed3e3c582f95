import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { substituteDefaultRepo } from './default-repo.js';

const digest = 'sha256:81daf011d63b68cfa514ddab7741a1adddd59d3264118dfb0fd9266328bb8883';
const long =
  'gcr.io/herewehaveanincrediblylongregistryname/herewealsohaveanabnormallylongimagename/doubtyouveseenanimagethislong/butyouneverknowdoyouimeanpeopledosomecrazystuffoutthere/goodluckpushingthistoanyregistrymyfriend';

// The cases of Skaffold's TestImageReplaceDefaultRepo (pkg/skaffold/docker/default_repo_test.go).
const cases: Array<{ description: string; image: string; defaultRepo: string; multiLevel?: boolean; expected: string }> = [
  { description: 'basic GCR concatenation', image: 'gcr.io/some/registry', defaultRepo: 'gcr.io/default', expected: 'gcr.io/default/gcr.io/some/registry' },
  { description: 'basic GCR concatenation without multi-level', image: 'gcr.io/some/registry', defaultRepo: 'gcr.io/default', multiLevel: false, expected: 'gcr.io/default/gcr.io/some/registry' },
  { description: 'basic AR concatenation', image: 'github.com/org/app', defaultRepo: 'us-central1-docker.pkg.dev/default', expected: 'us-central1-docker.pkg.dev/default/github.com/org/app' },
  { description: 'basic AR concatenation without multi-level', image: 'github.com/org/app', defaultRepo: 'us-central1-docker.pkg.dev/default', multiLevel: false, expected: 'us-central1-docker.pkg.dev/default/github.com/org/app' },
  { description: 'no default repo set', image: 'gcr.io/some/registry', defaultRepo: '', expected: 'gcr.io/some/registry' },
  { description: 'provided image has defaultRepo prefix', image: 'gcr.io/default/registry', defaultRepo: 'gcr.io/default', expected: 'gcr.io/default/registry' },
  { description: 'provided image has defaultRepo eu prefix', image: 'eu.gcr.io/project/registry', defaultRepo: 'eu.gcr.io/project', expected: 'eu.gcr.io/project/registry' },
  { description: 'image has shared prefix with defaultRepo', image: 'gcr.io/default/example/registry', defaultRepo: 'gcr.io/default/repository', expected: 'gcr.io/default/repository/example/registry' },
  { description: 'aws', image: 'gcr.io/some/registry', defaultRepo: 'aws_account_id.dkr.ecr.region.amazonaws.com', expected: 'aws_account_id.dkr.ecr.region.amazonaws.com/gcr_io_some_registry' },
  { description: 'aws multi-level', image: 'gcr.io/some/registry', defaultRepo: 'aws_account_id.dkr.ecr.region.amazonaws.com', multiLevel: true, expected: 'aws_account_id.dkr.ecr.region.amazonaws.com/gcr.io/some/registry' },
  {
    description: 'aws over 255 chars',
    image: long,
    defaultRepo: 'aws_account_id.dkr.ecr.region.amazonaws.com',
    expected:
      'aws_account_id.dkr.ecr.region.amazonaws.com/gcr_io_herewehaveanincrediblylongregistryname_herewealsohaveanabnormallylongimagename_doubtyouveseenanimagethislong_butyouneverknowdoyouimeanpeopledosomecrazystuffoutthere_goodluckpushingthistoanyregistrymyfrien',
  },
  { description: 'normal GCR concatenation with numbers and other characters', image: 'gcr.io/k8s-skaffold/skaffold-example', defaultRepo: 'gcr.io/k8s-skaffold', expected: 'gcr.io/k8s-skaffold/skaffold-example' },
  { description: 'image has shared prefix with defaultRepo, but not gcr', image: 'myrepo/skaffold-example', defaultRepo: 'myrepo', expected: 'myrepo/skaffold-example' },
  { description: 'ko with GCR', image: 'ko://example.com/cmd/app', defaultRepo: 'gcr.io/default', expected: 'gcr.io/default/example.com/cmd/app' },
  { description: 'ko not with GCR', image: 'ko://example.com/cmd/app', defaultRepo: 'myrepo', expected: 'myrepo/example_com_cmd_app' },
  { description: 'ko multi-level not with GCR', image: 'ko://example.com/cmd/app', defaultRepo: 'myrepo', multiLevel: true, expected: 'myrepo/example.com/cmd/app' },
  { description: 'keep tag', image: 'img:tag', defaultRepo: 'gcr.io/default', expected: 'gcr.io/default/img:tag' },
  { description: 'keep digest', image: `img@${digest}`, defaultRepo: 'gcr.io/default', expected: `gcr.io/default/img@${digest}` },
  { description: 'keep tag and digest', image: `img:tag@${digest}`, defaultRepo: 'gcr.io/default', expected: `gcr.io/default/img:tag@${digest}` },
  // devloop's own: a private registry on HOST:PORT (the test cluster's TLS registry)
  { description: 'registry with a port, nested name', image: 'blog/posts', defaultRepo: '192.0.2.2:5443', expected: '192.0.2.2:5443/blog_posts' },
  { description: 'registry with a port and a path', image: 'localhost:5000/app', defaultRepo: '192.0.2.2:5443/team', expected: '192.0.2.2:5443/team/localhost_5000_app' },
];

describe('substituteDefaultRepo (Skaffold\'s rules)', () => {
  it.each(cases)('$description', ({ image, defaultRepo, multiLevel, expected }) => {
    expect(substituteDefaultRepo(defaultRepo, image, multiLevel)).toBe(expected);
  });

  it('rejects an invalid reference, as Skaffold does', () => {
    expect(() => substituteDefaultRepo('gcr.io/default', '!!invalid!!')).toThrow(UsageError);
  });
});
