// The expert's flow: one point object per message; a join node gathers them into arrays
// for `influxdb batch`, which writes each array in one request.
var uplink = decodeUplink(msg.payload);
if (uplink === null) {
    node.error("no decoder reads this payload", msg);
    return null;
}
msg.payload = {
    measurement: MEASUREMENT,
    tags: { device_id: uplink.device_id },
    fields: uplink.fields,
    timestamp: uplink.time,
};
return msg;
