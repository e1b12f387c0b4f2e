import { stagePolicy } from "./stage";

/**
 * Where the alarms go: one SNS topic that every alarm notifies when it fires and when it clears,
 * with an email subscription when the deploy is given SLIPWAY_ALARM_EMAIL (AWS mails the address a
 * confirmation link first). Anything else — a chat hook, a pager — subscribes to the same topic.
 */
export const alarmTopic = new sst.aws.SnsTopic("Alarms");

const { alarmEmail } = stagePolicy($app.stage, process.env);
if (alarmEmail)
  new aws.sns.TopicSubscription("AlarmEmail", { topic: alarmTopic.arn, protocol: "email", endpoint: alarmEmail });

/** A CloudWatch alarm that notifies the alarm topic on ALARM and on OK. */
export function alarm(name: string, args: aws.cloudwatch.MetricAlarmArgs): aws.cloudwatch.MetricAlarm {
  return new aws.cloudwatch.MetricAlarm(name, {
    ...args,
    alarmActions: [alarmTopic.arn],
    okActions: [alarmTopic.arn],
  });
}

/**
 * Any error of a function in five minutes: a handler that threw (batch handlers report the items they
 * could not handle instead, so this is a crash, a timeout or a bad deploy, not a bad message).
 */
export function alarmOnErrors(name: string, functionName: $util.Input<string>): aws.cloudwatch.MetricAlarm {
  return alarm(`${name}Errors`, {
    alarmDescription: `Slipway ${$app.stage}: ${name} failed (Lambda Errors > 0 in 5 minutes) — see its log group`,
    namespace: "AWS/Lambda",
    metricName: "Errors",
    // A function that links a secret hands out its name as a secret too; the name is not one.
    dimensions: { FunctionName: $util.unsecret($output(functionName)) },
    statistic: "Sum",
    period: 300,
    evaluationPeriods: 1,
    threshold: 0,
    comparisonOperator: "GreaterThanThreshold",
    treatMissingData: "notBreaching",
  });
}
