// Synthesizes the CDK stack without compiling the functions (bundling skipped) and checks that it
// has the same resources as infra/template.yaml: `npm test` (after `npm ci`).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FerryStack } from '../lib/ferry-stack';

const app = new cdk.App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new FerryStack(app, 'ferry-test');
const template = Template.fromStack(stack);
const json = template.toJSON();

test('the same resources as the SAM template', () => {
  template.resourceCountIs('AWS::DynamoDB::Table', 1);
  template.hasResourceProperties('AWS::DynamoDB::Table', {
    BillingMode: 'PAY_PER_REQUEST',
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
  });
  template.resourceCountIs('AWS::Lambda::Function', 6);
  for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
    assert.equal(fn.Properties.Runtime, 'provided.al2023');
    assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    assert.ok(fn.Properties.VpcConfig, 'every function is in the VPC');
  }
  template.resourceCountIs('AWS::Events::Rule', 4);
  template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
  template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  // Rollback's group commits on an IAM source: exactly the groups given, only for the cutover.
  const rollback = json.Resources.SourceMskRollbackGroupsPolicy;
  assert.equal(rollback.Condition, 'SourceIsMskWithRollbackGroups');
  assert.deepEqual(rollback.Properties.PolicyDocument.Statement[0].Resource, { Ref: 'RollbackGroupArns' });
  assert.deepEqual(rollback.Properties.PolicyDocument.Statement[0].Action, ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup']);
  // Discovery: one pass at a time, creating mappings for the mirror only.
  const discover = Object.values(template.findResources('AWS::Lambda::Function'))
    .find((f) => String(f.Properties.Description ?? '').startsWith('Every five minutes, new source topics'));
  assert.ok(discover, 'the discover function');
  assert.equal(discover.Properties.ReservedConcurrentExecutions, 1);
  assert.ok(JSON.stringify(json).includes('lambda:CreateEventSourceMapping'));
  const mappings = Object.keys(template.findResources('AWS::Lambda::EventSourceMapping'));
  assert.ok(mappings.length >= 1, 'the mappings of infra/mappings.yaml are included');
});

test('no IAM statement allows a * action', () => {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o.Statement)) {
        for (const s of o.Statement as Record<string, unknown>[]) {
          const actions = ([] as unknown[]).concat(s.Action ?? []);
          for (const a of actions) {
            assert.ok(typeof a === 'string' && !a.includes('*'), `action ${JSON.stringify(a)}`);
          }
        }
      }
      Object.values(o).forEach(walk);
    }
  };
  walk(json.Resources);
});

test('secrets are passed by ARN, never as values', () => {
  const text = JSON.stringify(json);
  assert.ok(!text.includes('SASL_PASSWORD') && !text.includes('TLS_KEY_PEM'));
  assert.ok(!text.includes('resolve:secretsmanager'));
});
