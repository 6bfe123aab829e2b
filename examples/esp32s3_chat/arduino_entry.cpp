// Arduino-ESP32 glue of the chat example (main.c holds the example): the
// console is Serial, and the example runs in its own task pinned to core 0
// with a stack large enough for llm_generate, so the worker takes core 1.
#ifdef ARDUINO

#include <Arduino.h>

#include "example.h"

extern "C" void ex_write(const char *s, size_t n) {
    Serial.write(reinterpret_cast<const uint8_t *>(s), n);
    Serial.flush();
}

extern "C" void ex_console_init(void) {}

extern "C" size_t ex_read_line(char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        int ch = Serial.read();
        if (ch < 0) {
            vTaskDelay(pdMS_TO_TICKS(10));
            continue;
        }
        if (ch == '\r' || ch == '\n') {
            if (n == 0) continue;  // the other half of CR LF, or an empty line
            break;
        }
        if (n + 1 < cap) {
            buf[n++] = static_cast<char>(ch);
            Serial.write(static_cast<uint8_t>(ch));  // echo
        }
    }
    buf[n] = '\0';
    Serial.write('\n');
    return n;
}

static void example_task(void *) {
    example_main();
}

void setup() {
    Serial.begin(921600);  // monitor_speed of boards/esp32s3.ini
    delay(1500);  // native USB: give the host time to open the port
    xTaskCreatePinnedToCore(example_task, "chat", 16384, nullptr, 1, nullptr, 0);
}

void loop() {
    vTaskDelay(pdMS_TO_TICKS(1000));
}

#endif  // ARDUINO
