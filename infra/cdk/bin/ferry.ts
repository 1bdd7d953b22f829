#!/usr/bin/env node
// Ferry on CDK: `npx cdk synth` / `npx cdk deploy` (parameters as in infra/template.yaml:
// `--parameters SourceBootstrapServers=... --parameters TargetMskClusterArn=...`).
import * as cdk from 'aws-cdk-lib';
import { FerryStack } from '../lib/ferry-stack';

// FERRY_CDK_NO_BUNDLING=1: synthesize without compiling the functions (assets are placeholders).
const noBundling = process.env.FERRY_CDK_NO_BUNDLING === '1';
const app = new cdk.App(noBundling ? { postCliContext: { 'aws:cdk:bundling-stacks': [] } } : {});
new FerryStack(app, app.node.tryGetContext('stackName') ?? 'ferry', {
  description: 'Ferry: serverless, exactly-once Kafka -> Amazon MSK migration (CDK)',
});
