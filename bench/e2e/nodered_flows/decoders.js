// The payload decoders of the Node-RED peer, written from the vendors' published formats
// the way a team pastes them into a function node: this text is the top of both flows'
// function node, after `var MEASUREMENT = "..."` and before the flow's own few lines
// (per_message.js or batched.js).
//
// decodeUplink(uplink) takes a parsed TTN v3 uplink and returns
// {device_id, fields, time} with `time` the received_at instant in nanoseconds (a string:
// a JS number cannot hold it), or null when no decoder reads the payload.

// Decentlab protocol v2: version (1 byte), device id (2), flags (2), then for each flag bit
// set from the lowest, that sensor's big-endian 16-bit words (Decentlab's own decoders).
var DECENTLAB_BATTERY = {
    length: 1,
    values: [{ name: "battery_voltage", convert: function (x) { return x[0] / 1000; } }],
};

var DECENTLAB_MODELS = {
    "DL-DS18": [
        {
            length: 1,
            values: [{ name: "temperature", convert: function (x) { return (x[0] - 32768) / 16; } }],
        },
        DECENTLAB_BATTERY,
    ],
    "DL-CTD10": [
        {
            length: 4,
            values: [
                { name: "water_depth", convert: function (x) { return x[0] - 32768; } },
                { name: "temperature", convert: function (x) { return (x[1] - 32768) / 10; } },
                { name: "electrical_conductivity", convert: function (x) { return x[2]; } },
                { name: "freezing_flag", convert: function (x) { return x[3]; } },
            ],
        },
        DECENTLAB_BATTERY,
    ],
};

function decentlabSize(sensors, flags) {
    var size = 5;
    for (var i = 0; i < sensors.length; i++) {
        if ((flags >> i) & 1) {
            size += 2 * sensors[i].length;
        }
    }
    return size;
}

function decodeDecentlab(bytes, sensors) {
    var flags = (bytes[3] << 8) | bytes[4];
    var fields = {};
    var pos = 5;
    for (var i = 0; i < sensors.length; i++) {
        if (!((flags >> i) & 1)) {
            continue;
        }
        var sensor = sensors[i];
        var x = [];
        for (var j = 0; j < sensor.length; j++) {
            x.push((bytes[pos] << 8) | bytes[pos + 1]);
            pos += 2;
        }
        for (var k = 0; k < sensor.values.length; k++) {
            fields[sensor.values[k].name] = sensor.values[k].convert(x);
        }
    }
    return fields;
}

// Which Decentlab model sent these bytes: the one whose sensor table, for the flags in the
// header, gives exactly this many bytes (DL-DS18 sends 9 bytes, DL-CTD10 15).
function decentlabModel(bytes) {
    if (bytes.length < 5 || bytes[0] !== 2) {
        return null;
    }
    var flags = (bytes[3] << 8) | bytes[4];
    for (var model in DECENTLAB_MODELS) {
        var sensors = DECENTLAB_MODELS[model];
        if (flags !== 0 && flags >> sensors.length === 0 && decentlabSize(sensors, flags) === bytes.length) {
            return sensors;
        }
    }
    return null;
}

// Cayenne LPP: repeated channel, type, value; fields named <type>_<channel> as The Things
// Stack's CayenneLPP formatter names them. type -> [name, size, divisor, signed]
var CAYENNE_TYPES = {
    0x00: ["digital_in", 1, 1, false],
    0x01: ["digital_out", 1, 1, false],
    0x02: ["analog_in", 2, 100, true],
    0x03: ["analog_out", 2, 100, true],
    0x65: ["luminosity", 2, 1, false],
    0x66: ["presence", 1, 1, false],
    0x67: ["temperature", 2, 10, true],
    0x68: ["relative_humidity", 1, 2, false],
    0x73: ["barometric_pressure", 2, 10, false],
    0x74: ["voltage", 2, 100, false],
    0x75: ["current", 2, 1000, false],
    0x78: ["percentage", 1, 1, false],
    0x7d: ["concentration", 2, 1, false],
};

function decodeCayenne(bytes) {
    var fields = {};
    var pos = 0;
    while (pos < bytes.length) {
        var channel = bytes[pos];
        var type = CAYENNE_TYPES[bytes[pos + 1]];
        if (type === undefined || pos + 2 + type[1] > bytes.length) {
            return null;
        }
        var value = 0;
        for (var i = 0; i < type[1]; i++) {
            value = value * 256 + bytes[pos + 2 + i];
        }
        if (type[3] && value >= Math.pow(2, 8 * type[1] - 1)) {
            value -= Math.pow(2, 8 * type[1]);
        }
        fields[type[0] + "_" + channel] = value / type[2];
        pos += 2 + type[1];
    }
    return pos > 0 ? fields : null;
}

// received_at ("2026-01-15T05:42:07.123456789Z") in nanoseconds since the epoch.
function nanoseconds(receivedAt) {
    var match = /^(.{19})(?:\.(\d{1,9}))?Z$/.exec(receivedAt);
    var milliseconds = Date.parse(match[1] + "Z");
    var fraction = (match[2] || "").padEnd(9, "0");
    return (BigInt(milliseconds) * 1000000n + BigInt(fraction)).toString();
}

function decodeUplink(uplink) {
    var message = uplink.uplink_message;
    var bytes = Buffer.from(message.frm_payload, "base64");
    var sensors = decentlabModel(bytes);
    var fields = sensors ? decodeDecentlab(bytes, sensors) : decodeCayenne(bytes);
    if (fields === null) {
        return null;
    }
    fields.f_cnt = message.f_cnt || 0; // The Things Stack leaves out a zero f_cnt
    return {
        device_id: uplink.end_device_ids.device_id,
        fields: fields,
        time: nanoseconds(message.received_at),
    };
}
