// The hackathon flow: one point per message, handed to `influxdb out` as [fields, tags];
// the node takes the timestamp from the field `time` (precision ns) and the measurement
// from its own settings.
var uplink = decodeUplink(msg.payload);
if (uplink === null) {
    node.error("no decoder reads this payload", msg);
    return null;
}
uplink.fields.time = uplink.time;
msg.payload = [uplink.fields, { device_id: uplink.device_id }];
return msg;
